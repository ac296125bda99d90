"""LoRA adapters as weight vectors (paper Sec. 3.1): one identity model = one flattened vector θ.

Import what you need from the module that holds it (the package itself
imports nothing, so a light caller such as the CLI never pulls in torch):

- `layout`:  LoraSpec (which LoRA to train) and LoraLayout (the order and shapes of θ),
             checks of vectors and state dicts against a layout. NumPy only.
- `adapter`: the layout of a UNet without touching it, attaching the shared-init peft
             adapter, reading and loading its tensors.
- `vectors`: θ <-> the adapter's tensors (flatten / unflatten).
- `files`:   θ <-> diffusers LoRA .safetensors files.
"""
