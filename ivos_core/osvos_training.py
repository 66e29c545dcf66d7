"""Re-export shim: OSVOS training moved to its rooms. The one-shot fine-tuning on a video is
:mod:`ivos_core.video.finetune` (``finetune``, ``FinetuneConfig``, ``TrainProgress``,
``default_lr``); parent training and its checkpoints are :mod:`ivos_core.training.osvos_parent`
(``train_parent``, ``OSVOSTrainConfig``, ``load_parent``, ...). Old imports
(``from ivos_core.osvos_training import load_parent``) keep working; new code imports the new
homes."""

from ivos_core.training.osvos_parent import (
    CHECKPOINT_KIND,
    ArraySequence,
    OSVOSTrainConfig,
    ParentTrainResult,
    SequenceLike,
    StaticImageSequence,
    load_parent,
    parent_training_sequences,
    register_checkpoint_builder,
    train_parent,
)
from ivos_core.utils import resolve_device
from ivos_core.video.finetune import FinetuneConfig, TrainProgress, TrainProgressFn, default_lr, finetune

__all__ = [
    "CHECKPOINT_KIND",
    "ArraySequence",
    "FinetuneConfig",
    "OSVOSTrainConfig",
    "ParentTrainResult",
    "SequenceLike",
    "StaticImageSequence",
    "TrainProgress",
    "TrainProgressFn",
    "default_lr",
    "finetune",
    "load_parent",
    "parent_training_sequences",
    "register_checkpoint_builder",
    "resolve_device",
    "train_parent",
]
