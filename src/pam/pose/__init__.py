"""Stage I: physically simulated hand-object trajectories from keyframes (see docs/pose.md).

Modules: ``keyframes`` (JSON format, presets, default scene and camera), ``trajectory``
(minimum-jerk timing, slerp, finger closing), ``grasp`` (grasp synthesis), ``hand_geometry``
(capsules and segments of a hand model), ``sdf`` (libigl signed distance), ``collision`` (CoACD
convex parts, cached), ``physics`` (MuJoCo scene), ``generate`` (the planner), ``quality``
(measures), ``command`` (``pose_sequences``, the one-call entry point). Dataset trajectories
(DexYCB, OakInk2, GraspXL) are read by ``pam.data``; ``importers`` is its deprecated shim.
"""
