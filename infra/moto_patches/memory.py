"""Memory bounded by live data: moto's list of every instance holds weak references."""

from __future__ import annotations

import weakref
from typing import Any

from .common import APPLIED


# ---- weak instance tracking ------------------------------------------------------------------


class WeakInstances:
    """A stand-in for moto's `instances_tracked` list that does not keep instances alive."""

    def __init__(self) -> None:
        self._refs: list[weakref.ref[Any]] = []
        self._appended = 0

    def append(self, instance: Any) -> None:
        try:
            self._refs.append(weakref.ref(instance))
        except TypeError:  # no __weakref__ slot: not tracked
            return
        self._appended += 1
        if self._appended % 1024 == 0:  # drop dead references now and then
            self._refs = [r for r in self._refs if r() is not None]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter([i for i in (r() for r in self._refs) if i is not None])

    def __len__(self) -> int:
        return sum(1 for r in self._refs if r() is not None)


def _patch_instance_tracking() -> None:
    from moto.core import common_models, model_instances

    def tracked(cls: type) -> WeakInstances:
        current = cls.__dict__.get("instances_tracked")
        if not isinstance(current, WeakInstances):
            current = WeakInstances()
            cls.instances_tracked = current  # type: ignore[attr-defined]
        return current

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        instance = object.__new__(cls)
        tracked(cls).append(instance)
        return instance

    common_models.BaseModel.__new__ = __new__  # type: ignore[method-assign]

    def reset_model_data() -> None:
        for models in model_instances.model_data.values():
            for model in models.values():
                model.instances_tracked = WeakInstances()  # type: ignore[attr-defined]

    model_instances.reset_model_data = reset_model_data
    APPLIED.append("weak-instance-tracking")
