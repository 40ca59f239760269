"""Server faces: the Jupyter server extension behind the lab extension (``server.lab``)."""
