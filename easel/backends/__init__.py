"""Backends: the protocol (``base``) and its implementations (``webui`` for A1111, Forge and SD.Next)."""
