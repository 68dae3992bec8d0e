"""The Python client's tests: run `python3 -m unittest -v` in clients/python against a real `warden serve`
(clients/python/test/python-client.test.ts starts one and passes its URL and keys in the environment)."""
