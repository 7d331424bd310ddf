"""Evaluation metrics of the PAM paper (see docs/metrics.md), one module per concern:

- ``image``: PSNR, SSIM per frame
- ``lpips``: LPIPS v0.1 with AlexNet
- ``fvd``: Frechet Video Distance, StyleGAN-V protocol (I3D TorchScript detector)
- ``tracking``, ``motion_fidelity``: point trackers (Lucas-Kanade, CoTracker3) and Motion Fidelity
- ``hand_pose``, ``hand_estimator``: MPJPE, PA-MPJPE, PA-MPVPE, F-score; HaMeR joints
- ``evaluate``, ``report``, ``cli``: ``pam eval`` (pairing, tables, JSON/CSV, HTML report)
- ``weights``: where pretrained files are found (``$PAM_HOME``), and the missing-file error
"""
