"""Any accepted source -> a safe RGB image: policy, reading, HTTP fetch, decode, files."""
