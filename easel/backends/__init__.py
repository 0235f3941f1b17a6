"""Backends: the protocol every kind serves (``base``: ``BackendClient``, ``Capability``, the shared values), the
errors they raise (``errors``), credentials in URLs (``credentials``), one client per ``[[backends]]`` entry
(``factory.make_client``) and the implementations: ``webui`` (AUTOMATIC1111, Forge and SD.Next)."""
