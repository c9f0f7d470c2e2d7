"""kong-tailer: read Kong Gateway logs into structured events and alert on them."""

from tailer.errors import ConfigError, InputError, TailerError
from tailer.events import Error, Event, EventHook, Http, Inspect, ParseError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Error",
    "Event",
    "EventHook",
    "Http",
    "InputError",
    "Inspect",
    "ParseError",
    "TailerError",
    "__version__",
]
