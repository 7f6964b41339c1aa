"""Writes torch_gru.safetensors: a PyTorch GRU and Linear head, an input, the outputs
and every gradient, all float64, for tests/torch_interop.rs.

Provenance: run once with PyTorch 2.x and safetensors 0.8 (the venv of
../shared/bench/setup.sh plus `pip install safetensors`):

    /tmp/refenv/bin/python tests/data/torch_gru.py

Model: nn.GRU(input_size=3, hidden_size=4) (one layer, biases, time-major) then
nn.Linear(4, 2) on every step's output; input x of 6 steps x batch 2 x 3, initial
state h0 of 1 x 2 x 4; loss = sum(linear(gru(x, h0)) * c) for a fixed random c.
Saved: the state dict under "gru." and "linear.", the inputs "x", "h0", "c", the
outputs "out" (6 x 2 x 4) and "h_n", "loss", and "grad.<name>" for every parameter
and for x and h0.
"""
import pathlib

import torch
from safetensors.torch import save_file

torch.manual_seed(20261207)
torch.set_default_dtype(torch.float64)
gru = torch.nn.GRU(3, 4)
linear = torch.nn.Linear(4, 2)
x = torch.randn(6, 2, 3, requires_grad=True)
h0 = torch.randn(1, 2, 4, requires_grad=True)
c = torch.randn(6, 2, 2)
out, h_n = gru(x, h0)
loss = (linear(out) * c).sum()
loss.backward()

tensors = {"x": x.detach(), "h0": h0.detach(), "c": c, "out": out.detach(), "h_n": h_n.detach(),
           "loss": loss.detach().reshape(1), "grad.x": x.grad, "grad.h0": h0.grad}
for prefix, module in [("gru.", gru), ("linear.", linear)]:
    for name, p in module.named_parameters():
        tensors[prefix + name] = p.detach()
        tensors["grad." + prefix + name] = p.grad
save_file({k: v.contiguous() for k, v in tensors.items()},
          str(pathlib.Path(__file__).with_name("torch_gru.safetensors")),
          metadata={"made_by": "tests/data/torch_gru.py", "torch": torch.__version__})
