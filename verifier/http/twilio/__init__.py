"""A Twilio-Verify-compatible ``/v2`` API on the same engine and store as ``/v1``.

``routes`` (the operations), ``shapes`` (Twilio's JSON resources), ``errors`` (our codes
as Twilio's error numbers), ``services`` (services in the store, one policy each) and
``auth`` (the SDK's HTTP Basic credentials). See ``docs/twilio.md``.
"""

from __future__ import annotations

from .auth import PREFIX, TwilioAuthenticate
from .errors import response as error_response
from .routes import router
from .services import Services

__all__ = ["PREFIX", "Services", "TwilioAuthenticate", "error_response", "router"]
