"""Images and records in and out: finding and reading images (``data``), fitting them to a
network (``image_fit``, ``resizer``), what a run read and wrote (``input_record``,
``run_record``) and where and how outputs are written (``outputs``, ``output_format``).

It may import ``i2i_cli.api`` and ``i2i_cli.base`` only.
"""
