"""Discriminator Guidance (DG, EDM-G++; Kim et al. 2023) on EDM denoisers (spec dg.md)."""
