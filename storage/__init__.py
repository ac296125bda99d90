"""Where bytes live: the Zarr weight store on any fsspec URL, its metadata, the space artifacts, S3 config."""
import warnings

# The shipped zoo keeps its build record `zoo.json` beside its arrays; zarr warns about that plain file
# whenever it lists the store's members. It is there on purpose: that one warning is not the user's business.
warnings.filterwarnings("ignore", message=r"Object at zoo\.json is not recognized as a component of a Zarr hierarchy",
                        category=UserWarning)
