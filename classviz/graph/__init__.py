"""The network as a plan: forward to a head and backward to the input, device-agnostic."""
from .network import Network
from .plan import Plan

__all__ = ["Network", "Plan"]
