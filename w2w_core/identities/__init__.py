"""Where a dataset's identities come from: one interface, one module per source.

- `source`:   IdentitySource (what every source offers: ids, labels, images) and IdentityRecord.
- `world`:    the embedded world's train identities (the default).
- `manifest`: a team's own labelled image folders, listed in a manifest (any concept).

The manifest's files are read at the edge (storage/identity_files.py); here they arrive as bytes.
"""
