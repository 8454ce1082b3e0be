"""Workers: pull jobs from a challenge server over HTTP and run them with maikit.

- ``client.py``: the HTTP protocol (register, claim, download, heartbeat, log, result);
- ``loop.py``: the pull loop, the same code for ``mai serve``'s in-process workers and
  ``mai worker`` on another machine;
- ``sandbox.py``: every untrusted .tflite is parsed and run in a child process with
  memory, CPU-time and wall-clock limits;
- ``stages.py``: what runs inside that child (preflight, fidelity, runtime).

Nothing here imports the server or torch.
"""
