"""EDM: SongUNet / DhariwalUNet in VP, VE, EDM, iDDPM preconditioning; pickles; sampling."""
