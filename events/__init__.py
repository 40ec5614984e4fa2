from events.models import ALL_EVENTS, BY_DETAIL_TYPE, SOURCE, Contract, Mode

__all__ = ["ALL_EVENTS", "BY_DETAIL_TYPE", "SOURCE", "Contract", "Mode"]
