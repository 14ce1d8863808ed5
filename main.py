"""Azure Functions entry script, named by the app setting `PYTHON_SCRIPT_FILE_NAME=main.py`.

The Python worker imports this module and indexes the one `FunctionRegister` in it,
`app`. It is not `function_app.py` because a root module of that name is shadowed by
the `function_app/` package. Functions live in blueprints; this module only registers
them, and nothing else (no settings, engine or client) is built at import.
"""

import azure.durable_functions as df
import azure.functions as func

import durable
import function_app

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(function_app.blueprint)
app.register_functions(durable.blueprint)
