"""Where a fine-tuning run starts: the EMA weights and spec of an existing model (``TrainConfig.init_from``)."""

from __future__ import annotations

__all__ = ["SHIPPED", "initial_weights"]

SHIPPED = "shipped"  # init_from value meaning the model in pipeline/resources/model


def initial_weights(ref: str):
    """``(spec, state_dict)`` of the model ``ref``: ``shipped``, a model dir, a checkpoint file or ``models:/...``."""
    from pipeline.model.io import NotAModelError, load_denoiser_checked
    from pipeline.types import StageError

    try:
        model, spec = load_denoiser_checked(None if ref == SHIPPED else ref)
    except NotAModelError as exc:  # names the file already
        raise StageError(f"init_from {exc}") from None
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise StageError(f"init_from {ref!r}: {exc}") from None
    return spec, {k: v.detach().clone() for k, v in model.state_dict().items()}
