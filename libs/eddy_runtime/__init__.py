"""What every eddy controller shares: client, informer, work queue, status.

A controller is a reconciler plus what it watches; everything else lives here.
"""

from eddy_runtime.manager import Controller, Manager, Watch, ref_key
from eddy_runtime.reconciler import Attempt, Reconciler, Result, Step, StepError, run_steps
from eddy_runtime.resources import ApiError, Obj, Resource, ResourceClient

__all__ = [
    "ApiError",
    "Attempt",
    "Controller",
    "Manager",
    "Obj",
    "Reconciler",
    "Resource",
    "ResourceClient",
    "Result",
    "Step",
    "StepError",
    "Watch",
    "ref_key",
    "run_steps",
]
