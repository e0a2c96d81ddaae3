"""The HTTP detection service (``wsvad serve``; :mod:`wsvad.serve.app`)."""
