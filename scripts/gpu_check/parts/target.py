"""The device every part measures on: CUDA. The tests point it at the CPU to run the parts at
tiny sizes (Triton in its interpreter), which checks every call they make."""

DEVICE = "cuda"
