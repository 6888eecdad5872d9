# SPDX-License-Identifier: BSD-3-Clause
# Sphinx configuration of the guides: sphinx-build -W -b html doc/guides OUT
# (Debian's python3-sphinx; devtools/check-docs.sh; meson -Ddocs=true).
project = 'virtio-vhost-user for DPDK'
author = 'the dpdk-vvu authors'
copyright = 'the dpdk-vvu authors, BSD-3-Clause'
root_doc = 'index'
exclude_patterns = ['_build']
# Literal blocks are shell commands, C or plain text: no guessing of a lexer
# that could warn on shell syntax.
highlight_language = 'none'
html_theme = 'alabaster'
html_show_sourcelink = False
html_copy_source = False
