"""Open the w2w weight matrix from a notebook: labelled arrays, one row, one LoRA file.

    python docs/notebook_access.py STORE_URL [--row 2] [--out row2.safetensors]

or paste the cells (`# %%`) into Jupyter. It needs xarray, zarr, numpy and
safetensors, and no w2w code: the store carries its own labels and the LoRA
layout (ordered keys and shapes) needed to turn any row back into a LoRA
file. For an s3:// URL set AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY first (for a local server: `w2w s3 serve`).
"""
import argparse
import os

import numpy as np
import xarray as xr
import zarr
from safetensors.numpy import save_file

parser = argparse.ArgumentParser(description="Show a w2w weight store and export one row.")
parser.add_argument("url", help="store URL: a local path or s3://bucket/prefix")
parser.add_argument("--row", type=int, default=0, help="which identity (row) to load")
parser.add_argument("--out", default=None, help="write that row as a LoRA .safetensors here")
args = parser.parse_args()
url = args.url

# For s3:// the endpoint comes from the environment; key and secret are read by botocore.
options = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]} if url.startswith("s3://") and "AWS_ENDPOINT_URL" in os.environ else None

# %% The whole store as one labelled dataset (lazy: nothing is read yet).
# consolidated=False: the store grows while it is read, so it keeps no consolidated copy of its metadata.
ds = xr.open_zarr(url, consolidated=False, storage_options=options)
print(f"weights: {ds.sizes['identity']} identities x {ds.sizes['param']} params ({ds.weights.dtype}), "
      f"attributes: {', '.join(map(str, ds.attribute.values))}")
status = ds.status.values  # 0 pending, 1 done, 2 failed
print(f"status: {(status == 1).sum()} done, {(status == 2).sum()} failed, {(status == 0).sum()} pending")

# Only done rows hold finished models; select them, then any attribute by name.
done = ds.isel(identity=np.flatnonzero(status == 1))
for name in ds.attribute.values:
    share = float(done.attributes.sel(attribute=name).mean()) if done.sizes["identity"] else float("nan")
    print(f"  {name}: {share:.2f} of done identities")

# %% Rows are labelled by identity id: the `identity` coordinate selects by name.
identity = str(ds.identity.values[args.row])
by_name = ds.sel(identity=identity)
print(f"row {args.row} is identity {identity!r}: ds.sel(identity={identity!r}) has "
      f"{by_name.sizes.get('param', 0)} params, status {int(by_name.status)}")

# %% One row, straight from zarr.
group = zarr.open_group(url, mode="r", storage_options=options)
layout = group.attrs["layout"]
row = group["weights"][args.row].astype(np.float32)
labels = [n for n, on in zip(group.attrs["attribute_names"], group["attributes"][args.row]) if on]
state = {0: "pending", 1: "done", 2: "failed"}[int(group["status"][args.row])]
print(f"row {args.row}: identity {group['identity'][args.row]}, status {state}, "
      f"attributes: {', '.join(labels) or 'none'}")
print(f"  base model {layout['base_model_id']} ({layout['base_model_hash']}), rank {layout['rank']}, "
      f"{layout['n_params']} params, first values {[round(float(x), 4) for x in row[:3]]}")

# %% The row as a LoRA file: cut the vector at the layout's shapes, in the layout's key order.
# (With w2w installed, w2w_core.lora.files.export_lora_file(row, LoraLayout.from_dict(layout), path)
# writes the same tensors in the exact file diffusers' pipe.load_lora_weights expects.)
if args.out:
    tensors, offset = {}, 0
    for key, shape in zip(layout["keys"], layout["shapes"]):
        size = int(np.prod(shape))
        tensors["unet." + key] = row[offset:offset + size].reshape(shape).copy()
        offset += size
    save_file(tensors, args.out)
    print(f"wrote row {args.row} as a LoRA file: {args.out} ({len(tensors)} tensors)")
