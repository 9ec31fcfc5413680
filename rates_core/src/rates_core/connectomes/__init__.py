"""Connectome files shipped with rates (data only): ``example_16.zip``, a synthetic 16-region
connectome in TVB's zip layout, loaded by ``rates_core.Connectome.example()``."""
