FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
WORKDIR /app

# The CPU build of the pinned torch (PyPI's default wheel is the multi-GB CUDA build).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY dialog ./dialog
COPY knowledge ./knowledge
COPY skills ./skills
COPY data ./data
RUN pip install -e .

EXPOSE 8000
CMD ["dialog", "serve", "--host", "0.0.0.0", "--port", "8000"]
