"""The health alert form: its contract, carriers (xlsx, docx, email body), typed model and checks."""
