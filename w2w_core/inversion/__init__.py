"""Single-image inversion into the w2w space (paper Sec. 3.4). Import from the module that holds a name:

- `config`:   InversionConfig (light: no torch), for the CLI and run configs.
- `optimise`: `invert` (β of the first m components by the masked ε-loss), `model_of` / `SpaceBasis`
  (θ(β), differentiable), `set_factors` (θ into the batched LoRA layers).
"""
