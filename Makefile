# cyoda_wf: PGXS build
# cyoda_wf is the engine; cyoda_wf_router (SQL only, over PL/Proxy) offers its
# API in a router database in front of shard databases.
EXTENSION = cyoda_wf cyoda_wf_router
MODULE_big = cyoda_wf

OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install scripts of the current version (cyoda_wf--0.2.0.sql, and the
# router's cyoda_wf_router--0.2.0.sql) and the upgrade scripts
# (cyoda_wf--A--B.sql) sit at the top and are shipped as they are.  Released
# install scripts are not shipped: the library's symbols changed, and git
# history keeps them (test/scripts/upgrade.sh builds 0.1.0).
DATA = $(sort $(wildcard $(addsuffix --*.sql,$(EXTENSION))))

# pg_regress: one file per feature, sql/*.sql with expected/*.out (the PGXS
# default inputdir), run against a cluster started by scripts/test.sh
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --outputdir=test/out --load-extension=plpython3u
# isolation tester: test/isolation/specs/*.spec with test/isolation/expected/*.out
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/out/isolation

PG_CPPFLAGS = -I$(srcdir)/src -Wall -Wmissing-prototypes -Wpointer-arith -Werror=vla
# gcc's -Wclobbered: a local changed inside PG_TRY and read after the
# longjmp of an error must be volatile.  In PG_CFLAGS, not PG_CPPFLAGS, because
# the clang that builds the JIT bitcode does not know the option.
PG_CFLAGS = $(shell $(CC) -Werror -Wclobbered -fsyntax-only -x c /dev/null 2>/dev/null && echo -Wclobbered)
EXTRA_CLEAN = test/out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The Python package processes import (from cyoda_wf import entity_service),
# with its subpackage data_ingestion (a single module up to 0.1.0: removed).
PYTHON_SITE ?= /usr/lib/python3/dist-packages
install: install-python
install-python:
	$(MKDIR_P) '$(DESTDIR)$(PYTHON_SITE)/cyoda_wf/data_ingestion'
	$(INSTALL_DATA) python/cyoda_wf/*.py '$(DESTDIR)$(PYTHON_SITE)/cyoda_wf/'
	$(INSTALL_DATA) python/cyoda_wf/data_ingestion/*.py '$(DESTDIR)$(PYTHON_SITE)/cyoda_wf/data_ingestion/'
	rm -f '$(DESTDIR)$(PYTHON_SITE)/cyoda_wf/data_ingestion.py'
.PHONY: install-python

# Every object depends on the shared headers (PGXS does not track them).
$(OBJS): $(wildcard src/*.h)
