"""(see jaxconv/_src/__init__.py)"""
