"""User-facing operations, one editor object per studio (encode once with ``set_image``, edit cheaply)."""
