"""What a plugin author reads: the descriptors a plugin registers (``plugin``), the entry-point
registry that finds them (``registry``), validated pydantic settings and their files
(``settings``) and settings that exclude each other (``setting_conflicts``).

It may import only ``i2i_cli.base``, and no torch: discovering plugins and ``--help`` stay light.
"""
