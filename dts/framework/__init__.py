# SPDX-License-Identifier: BSD-3-Clause
"""dts framework: testpmd driver (testpmd.py) and exact traffic counting (traffic.py)."""
