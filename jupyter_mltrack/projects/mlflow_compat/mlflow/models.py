"""``mlflow.models``: signatures through jupyter_mltrack."""

from jupyter_mltrack.models import ModelSignature, infer_signature

__all__ = ["ModelSignature", "infer_signature"]
