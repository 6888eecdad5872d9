# SPDX-License-Identifier: BSD-3-Clause
"""dts framework: processes and /proc (proc.py), the testpmd driver (testpmd.py),
exact traffic counting (traffic.py), the VVU topology (vvu.py), the appliance VM
(appliance.py), hostile front-ends and examples/vhost_blk (hostile.py)."""
