"""The AI Horde (aihorde.net) as a backend: translation, the client, the infotext of its results."""
