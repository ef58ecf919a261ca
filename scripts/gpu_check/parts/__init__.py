"""The parts of the GPU check, one module each; each has ``run(log, deadline)``."""
