"""SDE-BBDM: paired translation by a score-based Brownian bridge (ACM MM 2024)."""
