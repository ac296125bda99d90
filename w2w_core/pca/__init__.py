"""Out-of-core PCA of the weight matrix: randomized (HMT) and exact (Gram) routes.

Pure array math over an `xp` module (NumPy or CuPy); the data come from any
`RowMatrix` (in memory here, the Zarr store in storage/dask_matrix.py).
"""
from w2w_core.pca.backend import BACKENDS, array_module
from w2w_core.pca.config import PCAConfig, default_oversamples
from w2w_core.pca.fit import PCAFit, choose_method, fit_pca, planned_passes
from w2w_core.pca.operator import ArrayMatrix, PassRecord, RowMatrix

__all__ = ["BACKENDS", "ArrayMatrix", "PCAConfig", "PCAFit", "PassRecord", "RowMatrix",
           "array_module", "choose_method", "default_oversamples", "fit_pca", "planned_passes"]
