"""EGSDE, SDEdit and ILVR translation methods, with the DSE and low-pass energies."""
