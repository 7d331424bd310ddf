"""PAM: a Pose-Appearance-Motion engine for hand-object interaction video synthesis."""

from pam.sequence import Camera, HandTrack, HOISequence, ObjectTrack, SequenceError

__version__ = "0.1.0"
__all__ = ["Camera", "HandTrack", "HOISequence", "ObjectTrack", "SequenceError", "__version__"]
