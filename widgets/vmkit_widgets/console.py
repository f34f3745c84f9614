"""The VM's serial console in a notebook: guest output appears as the guest writes it.

Give `VmConsole.write` to `VirtualMachine(console=...)`: the VMM calls it with the bytes the
guest's UART (16550) transmitted, chunk by chunk.
"""

import codecs

import ipywidgets as w


class VmConsole:
    def __init__(self, rows=12):
        self.text = w.Textarea(value="", disabled=True, placeholder="(guest console)",
                               layout=w.Layout(width="100%", height=f"{rows * 1.4:.0f}em"))
        # Incremental: a UTF-8 character may arrive split across two UART writes.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.widget = self.text

    def write(self, data: bytes):
        self.text.value += self._decoder.decode(bytes(data))

    def clear(self):
        self.text.value = ""
        self._decoder.reset()

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
