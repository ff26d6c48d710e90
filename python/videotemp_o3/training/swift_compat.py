"""The one shim a CPU run of ms-swift 3.10.3 needs, applied on import (SFT and GRPO plug-ins
import this module).

ms-swift logs peak accelerator memory after every logging step through
``get_torch_device().max_memory_reserved()``, which on a machine without an accelerator is
``torch.cpu`` — and torch 2.8 has no ``torch.cpu.max_memory_reserved``, so the first log line
raises ``AttributeError``. Supplying the missing function (reporting 0 bytes) is all a CPU run
needs; on a GPU machine nothing changes and the trainer itself is untouched.
"""

import torch

if not hasattr(torch.cpu, "max_memory_reserved"):
    torch.cpu.max_memory_reserved = lambda device=None: 0
