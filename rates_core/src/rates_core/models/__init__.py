"""Model library: YAML templates referenced as ``rates_core.models.<file>.<template>``."""
