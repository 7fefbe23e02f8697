"""`smsbridge db copy`: move a deployment's every row to another database."""

from bridge.dbcopy.copier import CopyError, CopyProgress, TableCount, copy_database

__all__ = ["CopyError", "CopyProgress", "TableCount", "copy_database"]
