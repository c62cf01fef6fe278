"""Format modules (settings FORMAT_MODULE_PATH): the admins show times to the second."""
