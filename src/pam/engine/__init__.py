"""pam.engine: job spec -> clips (in-process or on Ray) -> manifest -> filter -> export, and a gallery.

``job`` (JobSpec, expand -> ClipJob), ``clip`` (generate_clip: one clip stage by stage), ``runners``
(LocalRunner, RayRunner, make_runner), ``batch`` (run_batch: the driver), ``manifest``, ``filter``,
``export``, ``gallery``, ``cli`` (the commands' work). Importing it loads neither ray nor diffusers.
"""
