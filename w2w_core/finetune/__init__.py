"""Dreambooth-LoRA fine-tuning: teach the base model one identity through a rank-1 adapter.

One interface, one module per variant, chosen by `FinetuneConfig.trainer`
(the shape of w2w_core/pca). Import from the module that holds a name; the
package itself imports nothing, so `config` stays light (no torch) for the CLI:

- `config`:    FinetuneConfig (every setting, with its default) and FinetuneResult.
- `objective`: what every trainer and the inversion share: prompts and images
               to the UNet's inputs, the ε-prediction loss.
- `trainer`:   `finetune_identity` / `finetune_identities`, dispatching to a variant.
- `batched`:   K identities in one forward/backward pass, each its own rank-1 factors (the default).
- `single`:    one identity per run through peft's adapter: the reference the batched one is tested against.
"""
