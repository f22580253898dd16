"""Crack metrics on damage fields: usable on any output file.

    from pdgeneral.analysis import crack_tip, tip_history, crack_speed, branching_time
    times, tips = tip_history("results/crack-branching-glass-2d.h5", start=(0.05, 0.02),
                              direction=(1.0, 0.0))
    mid_times, speeds = crack_speed(times, tips, window=3)

Array functions (``crack``) take reference positions (N, dim) in m and damage (N,); the file
functions (``files``) read them from the snapshots of an output file.
"""
from .crack import (
                    DEFAULT_THRESHOLD,
                    LINK_FACTOR,
                    REACH_FACTOR,
                    BranchCount,
                    Branching,
                    branch_count,
                    branching,
                    crack_angle,
                    crack_bands,
                    crack_clusters,
                    crack_from,
                    crack_speed,
                    crack_tip,
                    cracked,
                    mean_crack_speed,
                    mirror_asymmetry,
)
from .files import branching_time, broken_bonds, damage_field, file_spacing, tip_history
from .waves import wave_speeds

__all__ = ["DEFAULT_THRESHOLD", "LINK_FACTOR", "REACH_FACTOR", "BranchCount", "Branching",
           "branch_count", "branching", "branching_time", "broken_bonds", "crack_angle",
           "crack_bands", "crack_clusters", "crack_from", "crack_speed", "crack_tip", "cracked",
           "damage_field", "file_spacing", "mean_crack_speed", "mirror_asymmetry", "tip_history",
           "wave_speeds"]
